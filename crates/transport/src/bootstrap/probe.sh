# Prints `uname -sm`, $HOME, and `verified` when the cached copy is the right one, `noexec`
# when it is there but cannot be run even with its x bit (a noexec home). A verified copy gets
# a lease: its path is handed out, to be started later by path (prcp's relays), so no prune
# may remove it for a while.
uname -sm
printf '%s\n' "$HOME"
if [ "$(uname -sm)" = "$want_uname" ] && [ -n "$HOME" ] && [ -f "$f" ]; then
    {
        if lock_shared && { verify; } 3<"$f"; then
            touch "$f.lease" 2>/dev/null
            echo verified
        elif ! [ -x "$f" ] && chmod u+x "$f" 2>/dev/null && ! [ -x "$f" ]; then
            echo noexec
        fi
    } 9<"$d"
fi
exit 0
