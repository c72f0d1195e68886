-- A next edit: the user renames a name (`ciw`, then the new name typed keystroke by keystroke) and
-- pauses; the next edit (its next use renamed) shows as ghost text over that use, on another
-- line, and Tab accepts it. Then the same for each further use (the accepted edit is an edit too).
-- Inputs: CODEFILL_FILE, CODEFILL_ROW/COL (1-based row, 0-based byte column: in the name to
-- rename), CODEFILL_NEW (the new name), CODEFILL_EXPECT (JSON list: the 0-based row each next
-- edit's ghost text is waited for on, in turn), CODEFILL_WAIT_MS (how long each may take),
-- CODEFILL_LATE (typed when the first answer with an item has reached Neovim, which handles it
-- only then: a suggestion for the text before these keys, as when it crossed them on the way;
-- no ghost text is waited for then, only CODEFILL_LATE_MS for any on the first expected row,
-- and the run ends after that Tab).
-- Results: typed_line, late_line, late_ghost (a ghost text seen on that row after the late
-- answer: { ghost, row }), and per next edit { ghost, row, col, pos, cursor_row, before,
-- after } (the ghost text shown, where (0-based row, byte column) and how (`virt_text_pos`:
-- 'overlay' is over the buffer's text), the cursor's row then, the buffer's lines before and
-- after Tab), lines (at the end).
local results = T.results
local ghost_ns = vim.api.nvim_create_namespace('nvim.lsp.inline_completion')
local wait_ms = tonumber(vim.env.CODEFILL_WAIT_MS or '20000')
local late = vim.env.CODEFILL_LATE or ''

--- Holds the first inline completion answer with an item until `held.release()`, and keeps
--- back all answers after it (none newer may replace it).
local function hold_first_answer(client)
  local held, request = {}, client.rpc.request
  client.rpc.request = function(method, params, callback, ...)
    if method == 'textDocument/inlineCompletion' then
      local handle = callback
      callback = function(err, result)
        if held.release then
          return
        elseif result and #(result.items or result) > 0 then
          held.release = function() handle(err, result) end
        else
          return handle(err, result)
        end
      end
    end
    return request(method, params, callback, ...)
  end
  return held
end

T.run(function()
  vim.cmd.edit(vim.fn.fnameescape(vim.env.CODEFILL_FILE))
  local client = T.client()
  local held = late ~= '' and hold_first_answer(client) or nil
  vim.api.nvim_win_set_cursor(0, { tonumber(vim.env.CODEFILL_ROW), tonumber(vim.env.CODEFILL_COL) })
  T.keys('ciw')
  T.type(vim.env.CODEFILL_NEW, 50)
  results.typed_line = vim.api.nvim_get_current_line()
  results.next_edits = {}
  for _, row in ipairs(vim.json.decode(vim.env.CODEFILL_EXPECT)) do
    local shown = {}
    table.insert(results.next_edits, shown)
    if held then
      T.wait('the answer', function() return held.release end, wait_ms)
      T.keys(late)
      T.wait('the keys typed late', function()
        return #vim.api.nvim_get_current_line() == #results.typed_line + #late
      end)
      results.late_line = vim.api.nvim_get_current_line()
      held.release()
      local deadline = vim.uv.now() + tonumber(vim.env.CODEFILL_LATE_MS or '1500')
      while vim.uv.now() < deadline and not results.late_ghost do
        local text, at = T.ghost_text()
        results.late_ghost = at == row and { ghost = text, row = at } or nil
        T.sleep(20)
      end
      shown.before = T.lines()
      T.keys('<Tab>')
      T.sleep(100)
      shown.after = T.lines()
      shown.cursor = vim.api.nvim_win_get_cursor(0)
      break
    end
    local ok, err = pcall(T.wait, 'ghost text on row ' .. row, function()
      shown.ghost, shown.row = T.ghost_text()
      return shown.row == row
    end, wait_ms)
    local mark = vim.api.nvim_buf_get_extmarks(0, ghost_ns, 0, -1, { details = true })[1]
    shown.col, shown.pos = mark and mark[3], mark and mark[4].virt_text_pos
    shown.cursor_row = vim.api.nvim_win_get_cursor(0)[1] - 1
    shown.before = T.lines()
    if not ok then
      error(err .. ' (shown: ' .. vim.inspect(shown) .. ')', 0)
    end
    T.keys('<Tab>')
    T.wait('the accepted edit', function()
      return not vim.deep_equal(T.lines(), shown.before)
    end, 5000)
    shown.after = T.lines()
  end
  T.sleep(100)
  results.lines = T.lines()
  T.keys('<Esc>')
end)
