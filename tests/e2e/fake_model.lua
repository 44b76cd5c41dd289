-- fake_model.lua — the fake_openai server's scoring rules (tests/server/README.md) written
-- again in Lua, so tests compute expected scores independently of evallua's HTTP client.
local M = {}

local function is_ws(c) return c == 32 or c == 9 or c == 10 or c == 13 end
local function is_alnum(c)
  return (c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122)
end

-- Length in bytes of the code point starting at byte i (the server's decoding rule).
local function cp_bytes(s, i)
  local b = string.byte(s, i)
  local want = b < 0x80 and 1 or (b >= 0xF0 and 4) or (b >= 0xE0 and 3) or (b >= 0xC0 and 2) or 1
  local n = 1
  while n < want and i + n <= #s do
    local c = string.byte(s, i + n)
    if c < 0x80 or c > 0xBF then break end
    n = n + 1
  end
  return n
end

--- Code points in s.
function M.cp_len(s)
  local n, i = 0, 1
  while i <= #s do
    i = i + cp_bytes(s, i)
    n = n + 1
  end
  return n
end

--- The server's tokens of s (strings).
function M.tokenize(s)
  local toks, i = {}, 1
  while i <= #s do
    local j = i
    while j <= #s and is_ws(string.byte(s, j)) do j = j + 1 end
    if j > #s then
      toks[#toks + 1] = string.sub(s, i)
      break
    end
    local c = string.byte(s, j)
    local e
    if is_alnum(c) then
      e = j
      while e + 1 <= #s and is_alnum(string.byte(s, e + 1)) do e = e + 1 end
    elseif c >= 0x80 then
      e = j + cp_bytes(s, j) - 1
    else
      e = j
    end
    toks[#toks + 1] = string.sub(s, i, e)
    i = e + 1
  end
  return toks
end

function M.fnv1a32(s)
  local h = 2166136261
  for i = 1, #s do
    h = ((h ~ string.byte(s, i)) * 16777619) & 0xFFFFFFFF
  end
  return h
end

function M.lp(t) return -(1 + M.fnv1a32(t) % 1000) / 200.0 end
function M.greedy(t) return M.fnv1a32(t) % 4 ~= 0 end

--- loglikelihood(context, continuation) as evallua's rule defines it on the server's echo:
--- tokens ending after the context and starting before the end; returns ll, is_greedy.
function M.loglikelihood(context, continuation)
  local full = context .. continuation
  local ctx_len, full_len = M.cp_len(context), M.cp_len(full)
  local ll, greedy, pos = 0, true, 0
  for k, t in ipairs(M.tokenize(full)) do
    local len = M.cp_len(t)
    if pos + len > ctx_len and pos < full_len then
      assert(k > 1, "continuation token without logprob")
      ll = ll + M.lp(t)
      greedy = greedy and M.greedy(t)
    end
    pos = pos + len
  end
  return ll, greedy
end

return M
