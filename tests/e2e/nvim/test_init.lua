-- Neovim's built-in LSP client against `codefill lsp`, headless, set up as a user would have it:
-- the README's Neovim recipe (CODEFILL_RECIPE: its Lua block, with the test's command and
-- settings put in), then one scenario (CODEFILL_SCENARIO, a Lua file next to this one) that
-- drives the editor with keystrokes.
-- Inputs (environment): CODEFILL_LSP_CMD (JSON list), CODEFILL_SETTINGS (JSON object),
-- CODEFILL_RECIPE ("" for none: Neovim's defaults only), CODEFILL_SCENARIO, CODEFILL_OUT (where
-- the JSON results go), CODEFILL_TIMEOUT_MS; scenarios read their own.
T = {
  results = {
    errors = {},
    nvim_version = tostring(vim.version()),
    -- Ghost text (vim.lsp.inline_completion) came after 0.11; the completion item path works in both.
    inline_module = vim.lsp.inline_completion ~= nil,
  },
}
local done = false

function T.finish()
  if done then
    return
  end
  done = true
  local f = assert(io.open(vim.env.CODEFILL_OUT, 'w'))
  f:write(vim.json.encode(T.results))
  f:close()
  vim.cmd('qall!')
end

function T.fail(msg)
  table.insert(T.results.errors, tostring(msg))
  T.finish()
end

-- A hang must end this editor, not the test run.
vim.defer_fn(function()
  T.fail('timed out')
end, tonumber(vim.env.CODEFILL_TIMEOUT_MS or '20000'))

-- Errors Neovim reports itself (e.g. in an LSP handler) are failures too.
local echo_err = vim.api.nvim_echo
vim.api.nvim_echo = function(chunks, history, opts)
  if opts and opts.err then
    local text = {}
    for _, chunk in ipairs(chunks) do
      table.insert(text, chunk[1])
    end
    table.insert(T.results.errors, 'nvim: ' .. table.concat(text))
  end
  return echo_err(chunks, history, opts)
end

--- Runs `fn` as a coroutine, so that it can wait; finishes the run when it returns.
function T.run(fn)
  local co = coroutine.create(function()
    local ok, err = xpcall(fn, debug.traceback)
    if ok then
      T.finish()
    else
      T.fail(err)
    end
  end)
  local ok, err = coroutine.resume(co)
  if not ok then
    T.fail(err)
  end
end

function T.sleep(ms)
  local co = assert(coroutine.running(), 'T.sleep outside T.run')
  vim.defer_fn(function()
    local ok, err = coroutine.resume(co)
    if not ok then
      T.fail(err)
    end
  end, ms)
  coroutine.yield()
end

--- Polls `pred` until it returns a truthy value (returned); fails after `timeout_ms`.
function T.wait(what, pred, timeout_ms)
  local deadline = vim.uv.now() + (timeout_ms or 10000)
  while true do
    local value = pred()
    if value then
      return value
    end
    if vim.uv.now() > deadline then
      error('waited in vain for ' .. what, 0)
    end
    T.sleep(20)
  end
end

--- Keys as typed (mappings apply), in |keycodes| notation ('<Tab>', '<C-x><C-o>').
function T.keys(keys)
  vim.api.nvim_feedkeys(vim.keycode(keys), 't', false)
  T.sleep(1)
end

--- Text typed one character at a time, `delay_ms` apart; `each()` (if given) after every
--- character, and typing stops early when it returns true. Returns what was typed.
function T.type(text, delay_ms, each)
  local typed = ''
  for char in text:gmatch('.') do
    vim.api.nvim_feedkeys(char, 't', false)
    typed = typed .. char
    T.sleep(delay_ms)
    if each and each(typed) then
      break
    end
  end
  return typed
end

function T.lines(buf)
  return vim.api.nvim_buf_get_lines(buf or 0, 0, -1, false)
end

local inline_ns = vim.api.nvim_create_namespace('nvim.lsp.inline_completion')

--- The ghost text shown in `buf` (nil: none), as the text it would add, and its (0-based) row.
function T.ghost_text(buf)
  local marks = vim.api.nvim_buf_get_extmarks(buf or 0, inline_ns, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  local details = marks[1][4]
  local parts = {}
  for _, chunk in ipairs(details.virt_text or {}) do
    if chunk[2] == 'ComplHint' then
      table.insert(parts, chunk[1])
    end
  end
  local text = table.concat(parts)
  for _, line in ipairs(details.virt_lines or {}) do
    text = text .. '\n' .. (line[1] and line[1][1] or '')
  end
  return text, marks[1][2]
end

--- The LSP requests Neovim sends and the answers it gets, by method: { sent = n, answered = n }.
T.requests = {}
vim.api.nvim_create_autocmd('LspRequest', {
  callback = function(args)
    local request = args.data.request
    local counts = T.requests[request.method] or { sent = 0, answered = 0 }
    T.requests[request.method] = counts
    if request.type == 'pending' then
      counts.sent = counts.sent + 1
    elseif request.type == 'complete' then
      counts.answered = counts.answered + 1
    end
  end,
})

function T.inline_counts()
  local counts = T.requests['textDocument/inlineCompletion'] or { sent = 0, answered = 0 }
  return counts.sent, counts.answered
end

-- Neovim turns filetype detection on after the init file; the scenarios open files themselves.
vim.cmd('filetype plugin indent on')

if (vim.env.CODEFILL_RECIPE or '') ~= '' then
  dofile(vim.env.CODEFILL_RECIPE)
else
  vim.lsp.config('codefill', {
    cmd = vim.json.decode(vim.env.CODEFILL_LSP_CMD),
    filetypes = { 'python', 'go' },
    settings = { codefill = vim.json.decode(vim.env.CODEFILL_SETTINGS) },
  })
  vim.lsp.enable('codefill')
end

--- The codefill client attached to `buf` (waits for it: a loaded machine starts it slowly).
function T.client(buf)
  return T.wait('codefill to attach', function()
    return vim.lsp.get_clients({ bufnr = buf or 0, name = 'codefill' })[1]
  end, 30000)
end

--- The requests the fake model got so far: { path, tail (the prompt's last line) } each, from
--- the file CODEFILL_FAKE_LOG the test's fake appends to.
function T.model_requests()
  local requests = {}
  local f = io.open(vim.env.CODEFILL_FAKE_LOG or '', 'r')
  if f then
    for line in f:lines() do
      local ok, request = pcall(vim.json.decode, line) -- (a line being written is skipped)
      if ok then
        table.insert(requests, request)
      end
    end
    f:close()
  end
  return requests
end

--- Waits until the fake model got a request for file `path` (nil: any; compared by name) with
--- prompt line `tail`.
function T.wait_model(tail, path, timeout_ms)
  return T.wait('a model request at ' .. vim.inspect(tail), function()
    for _, request in ipairs(T.model_requests()) do
      if request.tail == tail and (path == nil or vim.fs.basename(request.path or '') == vim.fs.basename(path)) then
        return true
      end
    end
  end, timeout_ms or 20000)
end

dofile(vim.env.CODEFILL_SCENARIO)
