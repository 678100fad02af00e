# The shell blocks of a markdown file (README.md), by their info string:
#   ```sh runnable                        run verbatim in the test guest
#                                          (vm.main-job, tests/vm/guest/readme-blocks.sh)
#   ```sh runnable not-in-guest: REASON   checked on the host
#                                          (check-readme-commands.sh), not run,
#                                          and counted with REASON
#   ```sh not-runnable: REASON            not a command to run as it stands (a
#                                          synopsis, placeholders, another
#                                          project's tool): counted with REASON
# A plain "sh" block is printed as kind "unmarked", any other "sh runnable..."
# or "sh not-runnable..." info string as "malformed": both are errors.
# Output, tab-separated, in the file's order:
#   block LINE KIND REASON   (KIND: guest, not-in-guest, not-runnable,
#                            unmarked, malformed)
#   line  LINE TEXT          each logical line of a guest or not-in-guest
#                            block, continuation lines (a trailing \) joined
# Used by the host (mawk) and by the guest (busybox awk): POSIX awk only.
BEGIN { inside = 0; keep = 0 }
/^```/ && inside {
  inside = 0
  if (pending != "") print "line\t" start "\t" pending
  pending = ""
  next
}
/^```/ {
  inside = 1
  keep = 0
  info = substr($0, 4)
  sub(/[ \t]+$/, "", info)
  if (info == "sh runnable") { kind = "guest"; reason = ""; keep = 1 }
  else if (info ~ /^sh runnable not-in-guest: ./) {
    kind = "not-in-guest"; reason = info; sub(/^sh runnable not-in-guest: */, "", reason); keep = 1
  } else if (info ~ /^sh not-runnable: ./) {
    kind = "not-runnable"; reason = info; sub(/^sh not-runnable: */, "", reason)
  } else if (info ~ /^sh (runnable|not-runnable)/) { kind = "malformed"; reason = info }
  else if (info == "sh") { kind = "unmarked"; reason = "" }
  else next
  print "block\t" NR "\t" kind "\t" reason
  next
}
!inside || !keep { next }
{
  if (pending == "") start = NR
  line = $0
  if (sub(/\\$/, "", line)) { pending = pending line " "; next }
  print "line\t" start "\t" pending line
  pending = ""
}
