-- check.lua — assertions for Lua tests run by `evallua exec`. Load with
--   local check = dofile(os.getenv("EVALLUA_SRC") .. "/tests/lua/check.lua")
-- and end the script with `return check.summary()` (prints "N passed, N failed").
local json = require "evallua.json"

local check = { passed = 0, failed = 0 }

local function where()
  local info = debug.getinfo(3, "Sl")
  return string.format("%s:%d", info.short_src, info.currentline)
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then
    local ok, s = pcall(json.encode, v)
    return ok and s or tostring(v)
  end
  return tostring(v)
end

--- Record a boolean outcome.
function check.ok(cond, msg)
  if cond then check.passed = check.passed + 1
  else
    check.failed = check.failed + 1
    io.stderr:write(string.format("%s: check failed: %s\n", where(), msg or ""))
  end
  return cond
end

--- Values equal (tables compared by their JSON encoding).
function check.eq(got, want, msg)
  local same = got == want
  if not same and type(got) == "table" and type(want) == "table" then
    same = json.encode(got) == json.encode(want)
  end
  if same then check.passed = check.passed + 1
  else
    check.failed = check.failed + 1
    io.stderr:write(string.format("%s: %s\n  got:      %s\n  expected: %s\n", where(), msg or "not equal", show(got), show(want)))
  end
  return same
end

--- Numbers within tol.
function check.near(got, want, tol, msg)
  local ok = type(got) == "number" and math.abs(got - want) <= (tol or 1e-9)
  if ok then check.passed = check.passed + 1
  else
    check.failed = check.failed + 1
    io.stderr:write(string.format("%s: %s: got %s, expected %s\n", where(), msg or "not near", tostring(got), tostring(want)))
  end
  return ok
end

--- fn() must raise an error whose message contains every given plain substring.
function check.raises(fn, substrings, msg)
  local ok, err = pcall(fn)
  local good = not ok
  if good then
    for _, s in ipairs(substrings) do
      if not string.find(tostring(err), s, 1, true) then good = false end
    end
  end
  if good then check.passed = check.passed + 1
  else
    check.failed = check.failed + 1
    io.stderr:write(string.format("%s: %s: %s\n", where(), msg or "expected an error",
      ok and "no error raised" or ("message was: " .. tostring(err))))
  end
  return good
end

--- Print the summary line and return the exit status.
function check.summary()
  print(string.format("%d passed, %d failed", check.passed, check.failed))
  return check.failed == 0 and 0 or 1
end

--- The shared benchmark data dir, or nil (tests then skip with a message).
function check.data_dir()
  local d = os.getenv("EVALLUA_TEST_DATA")
  local sys = require "evallua.sys"
  if d and sys.is_dir(d) then return d end
  return nil
end

return check
