-- The model's text through every path: a textDocument/completion item, a
-- textDocument/inlineCompletion item, and ghost text while in insert mode, accepted with Tab
-- (which runs the item's `codefill.accepted` command: a telemetry record).
-- Inputs: CODEFILL_FILE, CODEFILL_LINE/COL (1-based line, 0-based column, at the end of an ASCII line).
local line = tonumber(vim.env.CODEFILL_LINE)
local col = tonumber(vim.env.CODEFILL_COL)
local results = T.results

local function first_result(responses)
  for _, response in pairs(responses or {}) do
    if response.err then
      table.insert(results.errors, vim.inspect(response.err))
    elseif response.result then
      return response.result
    end
  end
end

T.run(function()
  vim.cmd.edit(vim.fn.fnameescape(vim.env.CODEFILL_FILE))
  local client = T.client()
  results.offset_encoding = client.offset_encoding
  results.supports_inline = client:supports_method('textDocument/inlineCompletion')
  -- An explicit position: in normal mode the cursor cannot sit past a line's last character.
  local params = {
    textDocument = vim.lsp.util.make_text_document_params(0),
    position = { line = line - 1, character = col },
    context = { triggerKind = 1 },
  }
  local completion = first_result(vim.lsp.buf_request_sync(0, 'textDocument/completion', params, 10000))
  if completion then
    local item = (completion.items or completion)[1]
    results.completion = item and item.textEdit and item.textEdit.newText
  end
  if results.supports_inline then
    local inline = first_result(vim.lsp.buf_request_sync(0, 'textDocument/inlineCompletion', params, 10000))
    if inline then
      local item = (inline.items or inline)[1]
      results.inline = item and item.insertText
    end
  end
  if not vim.lsp.inline_completion then
    return
  end
  -- Ghost text: the recipe enabled inline completion in this buffer; enter insert mode at the
  -- end of the line, wait for the ghost text, accept it with Tab.
  results.inline_enabled = vim.lsp.inline_completion.is_enabled({ bufnr = 0 })
  vim.api.nvim_win_set_cursor(0, { line, 0 })
  T.keys('A')
  results.ghost_text = T.wait('ghost text', T.ghost_text, 8000)
  T.keys('<Tab>')
  T.wait('the accepted text', function()
    return vim.api.nvim_get_current_line() ~= string.rep(' ', col)
  end)
  results.line_after_accept = vim.api.nvim_get_current_line()
  T.keys('<Esc>')
  T.sleep(300) -- the accept command's round trip
end)
