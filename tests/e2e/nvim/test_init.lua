-- Neovim's built-in LSP client against `codefill lsp`, headless, as a user would have it:
-- vim.lsp.config + vim.lsp.enable, a Python file, completion at a cursor.
-- Inputs (environment): CODEFILL_LSP_CMD (JSON list), CODEFILL_FILE, CODEFILL_LINE/COL (1-based line,
-- 0-based column, at the end of an ASCII line), CODEFILL_OUT (where the JSON results go).
local out_path = vim.env.CODEFILL_OUT
local results = {
  errors = {},
  nvim_version = tostring(vim.version()),
  -- Ghost text (vim.lsp.inline_completion) came after 0.11; the completion item path works in both.
  inline_module = vim.lsp.inline_completion ~= nil,
}
local done = false

local function finish()
  if done then
    return
  end
  done = true
  local f = assert(io.open(out_path, 'w'))
  f:write(vim.json.encode(results))
  f:close()
  vim.cmd('qall!')
end

local function fail(msg)
  table.insert(results.errors, msg)
  finish()
end

-- A hang must end this editor, not the test run.
vim.defer_fn(function()
  fail('timed out')
end, 15000)

-- Neovim turns filetype detection on after the init file, which opens the file itself.
vim.cmd('filetype on')

vim.lsp.config('codefill', {
  cmd = vim.json.decode(vim.env.CODEFILL_LSP_CMD),
  filetypes = { 'python' },
  settings = { codefill = { debounceMs = 0 } },
})
vim.lsp.enable('codefill')

local line = tonumber(vim.env.CODEFILL_LINE)
local col = tonumber(vim.env.CODEFILL_COL)

local function first_result(responses)
  for _, response in pairs(responses or {}) do
    if response.err then
      table.insert(results.errors, vim.inspect(response.err))
    elseif response.result then
      return response.result
    end
  end
end

-- The ghost-text path: enable inline completion, enter insert mode at the cursor, wait for
-- the ghost text, accept it (which also runs the item's `codefill.accepted` command).
local function ghost_text(client)
  local ns = vim.api.nvim_create_namespace('nvim.lsp.inline_completion')
  vim.lsp.inline_completion.enable(true, { bufnr = 0 })
  vim.api.nvim_win_set_cursor(0, { line, 0 })
  vim.api.nvim_feedkeys('A', 'n', false) -- the test's cursor is at the end of its line
  local timer = assert(vim.uv.new_timer())
  local waited = 0
  timer:start(50, 50, vim.schedule_wrap(function()
    waited = waited + 50
    local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
    if #marks > 0 then
      timer:stop()
      timer:close()
      local virt = marks[1][4].virt_text
      results.ghost_text = virt and virt[1] and virt[1][1] or ''
      results.accepted = vim.lsp.inline_completion.get()
      vim.defer_fn(function()
        results.line_after_accept = vim.api.nvim_buf_get_lines(0, line - 1, line, false)[1]
        vim.cmd('stopinsert')
        -- give the accept command's round trip time to reach the server
        vim.defer_fn(finish, 300)
      end, 100)
    elseif waited > 8000 then
      timer:stop()
      timer:close()
      fail('no ghost text appeared')
    end
  end))
end

vim.api.nvim_create_autocmd('LspAttach', {
  callback = function(args)
    local client = assert(vim.lsp.get_client_by_id(args.data.client_id))
    if client.name ~= 'codefill' then
      return
    end
    results.offset_encoding = client.offset_encoding
    results.supports_inline = client:supports_method('textDocument/inlineCompletion')
    vim.schedule(function()
      -- An explicit position: in normal mode the cursor cannot sit past a line's last character.
      local params = {
        textDocument = vim.lsp.util.make_text_document_params(0),
        position = { line = line - 1, character = col },
        context = { triggerKind = 1 },
      }
      local completion = first_result(vim.lsp.buf_request_sync(0, 'textDocument/completion', params, 10000))
      if completion then
        local item = (completion.items or completion)[1]
        results.completion = item and (item.textEdit and item.textEdit.newText or item.insertText or item.label)
      end
      if results.supports_inline then
        local inline = first_result(vim.lsp.buf_request_sync(0, 'textDocument/inlineCompletion', params, 10000))
        if inline then
          local item = (inline.items or inline)[1]
          results.inline = item and item.insertText
        end
      end
      if vim.lsp.inline_completion then
        ghost_text(client)
      else
        finish()
      end
    end)
  end,
})

vim.cmd.edit(vim.fn.fnameescape(vim.env.CODEFILL_FILE))
