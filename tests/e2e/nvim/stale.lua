-- Late answers while typing: the user types a function header keystroke by keystroke (with a
-- pause mid-line, so a request goes out there), Enter, and keeps typing after the request for
-- the new line was sent; once the answer is in, Tab.
-- Inputs: CODEFILL_FILE, CODEFILL_HEADER (the line typed first), CODEFILL_PAUSE_AFTER (the part of
-- it after which the user pauses), CODEFILL_BODY (what is typed on the next line), CODEFILL_UNTIL
-- ("answered": Tab once the request for the new line has its answer; "shown": the user pauses
-- once that answer is in (the recipe drops it: typed on since), and Tab once ghost text is shown
-- on the cursor's line, from Neovim's request after the pause), CODEFILL_MORE (typed quickly
-- then, before Tab: the answer shown is for the text before them; "+N": the next N characters of
-- CODEFILL_BODY),
-- CODEFILL_ACCEPT ("tab": the recipe's mapping; "native": Neovim's own accept,
-- vim.lsp.inline_completion.get()).
local header, pause_after, body = vim.env.CODEFILL_HEADER, vim.env.CODEFILL_PAUSE_AFTER, vim.env.CODEFILL_BODY
local results = T.results

local function ghost_on_cursor_line()
  local text, row = T.ghost_text()
  if text and row == vim.api.nvim_win_get_cursor(0)[1] - 1 then
    return text
  end
end

-- Every ghost text seen on the cursor's line while typing, with the line then.
results.seen = {}
local function look()
  local ghost = ghost_on_cursor_line()
  if ghost then
    table.insert(results.seen, { line = vim.api.nvim_get_current_line(), ghost = ghost })
  end
end

T.run(function()
  vim.cmd.edit(vim.fn.fnameescape(vim.env.CODEFILL_FILE))
  T.client()
  vim.api.nvim_win_set_cursor(0, { vim.api.nvim_buf_line_count(0), 0 })
  T.keys('A')
  T.type(pause_after, 40, look)
  -- The pause: the model gets the request (or an earlier answer typed into shows, from the cache).
  T.wait('the request at the pause', function()
    for _, request in ipairs(T.model_requests()) do
      if request.tail == pause_after then
        return true
      end
    end
    return ghost_on_cursor_line()
  end, 20000)
  look()
  T.type(header:sub(#pause_after + 1), 40, look)
  results.header_typed = vim.api.nvim_get_current_line()
  T.keys('<CR>')
  -- The pause after Enter: Neovim asks for the new line; the user types on once the model has
  -- the request.
  T.wait_model(vim.api.nvim_get_current_line())
  local _, answered = T.inline_counts()
  local typed = T.type(body, 60, function(so_far)
    look()
    if #so_far < 3 then
      return false
    end
    return ghost_on_cursor_line() ~= nil or select(2, T.inline_counts()) > answered
  end)
  if vim.env.CODEFILL_UNTIL == 'shown' then
    T.wait('ghost text after the pause', ghost_on_cursor_line, 10000)
  end
  results.ghost_then = ghost_on_cursor_line()
  local more = vim.env.CODEFILL_MORE or ''
  if more:match('^%+%d+$') then
    more = body:sub(#typed + 1, #typed + tonumber(more:sub(2)))
  end
  typed = typed .. T.type(more, 30, look)
  results.typed_after_request = typed
  results.before_tab = T.lines()
  results.ghost = ghost_on_cursor_line()
  results.any_ghost = T.ghost_text()
  if vim.env.CODEFILL_ACCEPT == 'native' then
    results.accepted = vim.lsp.inline_completion.get()
  else
    T.keys('<Tab>')
  end
  T.sleep(200)
  results.after_tab = T.lines()
  T.keys('<Esc>')
  T.sleep(300) -- the accept command's round trip
end)
