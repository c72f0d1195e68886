-- Completion items through Neovim's omnifunc (<C-x><C-o>), the way a user accepts them under
-- each 'completeopt' of CODEFILL_COMPLETEOPTS:
--   "" (Neovim's default, no menu for one match): the match goes in at once; the user types on;
--   "menuone": the menu shows with the match inserted; <C-y> accepts;
--   "menuone,noselect": the menu shows, nothing inserted; <C-n> selects, <C-y> accepts.
-- For each case the buffer gets the case's lines and the cursor goes to the end of line `row`
-- (or before 0-based column `col`). Inputs: CODEFILL_FILE (a Python file), CODEFILL_CASES (JSON
-- list of { lines, row, col? }), CODEFILL_COMPLETEOPTS (JSON list of strings).
local cases = vim.json.decode(vim.env.CODEFILL_CASES)
local completeopts = vim.json.decode(vim.env.CODEFILL_COMPLETEOPTS)
T.results.runs = {}

local function complete(case, completeopt)
  local result = { completeopt = completeopt }
  vim.api.nvim_buf_set_lines(0, 0, -1, false, case.lines)
  local before = table.concat(T.lines(), '\n')
  if case.col then
    vim.api.nvim_win_set_cursor(0, { case.row, case.col })
    T.keys('i<C-x><C-o>')
  else
    vim.api.nvim_win_set_cursor(0, { case.row, 0 })
    T.keys('A<C-x><C-o>')
  end
  if completeopt == '' then
    T.wait('the completion word', function()
      return table.concat(T.lines(), '\n') ~= before
    end)
  else
    T.wait('the completion menu', function()
      return vim.fn.pumvisible() == 1
    end)
    if completeopt:find('noselect') then
      T.keys('<C-n>')
    end
    local info = vim.fn.complete_info({ 'items' })
    result.words = vim.tbl_map(function(item)
      return item.word
    end, info.items or {})
    T.keys('<C-y>')
    T.wait('the menu to close', function()
      return vim.fn.pumvisible() == 0
    end)
  end
  T.sleep(50)
  T.keys('<Esc>')
  T.wait('normal mode', function()
    return vim.api.nvim_get_mode().mode == 'n'
  end)
  result.lines = T.lines()
  return result
end

T.run(function()
  vim.cmd.edit(vim.fn.fnameescape(vim.env.CODEFILL_FILE))
  T.client()
  -- The recipe's ghost text asks too, 200 ms after the cursor moves; the server keeps only the
  -- newest request of a document, so on a slow machine it could supersede <C-x><C-o>'s.
  if vim.lsp.inline_completion then
    vim.lsp.inline_completion.enable(false, { bufnr = 0 })
  end
  for _, completeopt in ipairs(completeopts) do
    if completeopt ~= '' then
      vim.o.completeopt = completeopt
    end
    local run = {}
    for i, case in ipairs(cases) do
      run[i] = complete(case, completeopt)
    end
    table.insert(T.results.runs, run)
  end
  T.sleep(300) -- the accept commands' round trips
end)
