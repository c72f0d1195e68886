-- Several buffers open; the user types and pauses in one, then in another, then in a text
-- buffer (no codefill there), then in the first again. Each step: the buffer, the line to
-- append to, what to type, and whether to pause before typing (entering insert mode alone
-- asks too).
-- Inputs: CODEFILL_FILES (JSON list of paths, opened in this order), CODEFILL_STEPS (JSON list of
-- { file = index, row, text, wait_first, asked_first (the pause before typing lasts until the model
-- got its request), answered (the pause after typing lasts until the model got the request) }),
-- CODEFILL_PAUSE_MS (the pause after typing, and before it with wait_first).
local files = vim.json.decode(vim.env.CODEFILL_FILES)
local steps = vim.json.decode(vim.env.CODEFILL_STEPS)
local pause = tonumber(vim.env.CODEFILL_PAUSE_MS)
local results = T.results
results.pauses = {}

T.run(function()
  local bufs = {}
  for i, path in ipairs(files) do
    vim.cmd.edit(vim.fn.fnameescape(path))
    bufs[i] = vim.api.nvim_get_current_buf()
  end
  for i, path in ipairs(files) do
    vim.cmd.buffer(bufs[i])
    if not path:match('%.txt$') then
      T.client(bufs[i])
    end
  end
  for _, step in ipairs(steps) do
    vim.cmd.buffer(bufs[step.file])
    vim.api.nvim_win_set_cursor(0, { step.row, 0 })
    T.keys('A')
    if step.wait_first then
      if step.asked_first then -- a buffer switched to, not edited yet: the pause alone asks
        T.wait_model(vim.api.nvim_get_current_line(), files[step.file])
      end
      T.sleep(pause)
    end
    T.type(step.text, 50)
    local line = vim.api.nvim_get_current_line()
    table.insert(results.pauses, { file = files[step.file], line = line })
    if step.answered then -- the pause lasts until the model has the request (a loaded machine is slow)
      T.wait_model(line, files[step.file])
    end
    T.sleep(pause)
    T.keys('<Esc>')
    T.wait('normal mode', function()
      return vim.api.nvim_get_mode().mode == 'n'
    end)
  end
  results.enabled = {}
  for i, buf in ipairs(bufs) do
    results.enabled[i] = vim.lsp.inline_completion and vim.lsp.inline_completion.is_enabled({ bufnr = buf }) or false
  end
  results.current = vim.api.nvim_get_current_buf() == bufs[steps[#steps].file]
end)
