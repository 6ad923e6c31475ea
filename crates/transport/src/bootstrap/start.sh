# Starts the agent from the cached copy if it is the right one, checked and started from one
# open file; otherwise says so, with what the client needs to decide on an upload.
#
# The check runs under the folder's shared lock (fd 9), as the probe's does, so that another
# build's upload cannot prune the folder in the middle of it. The lock goes as the agent
# starts (fd 9 is closed by the exec's own redirection): a running agent's folder may be
# pruned, and the agent runs on from the file it opened.
if [ "$(uname -sm)" = "$want_uname" ] && [ -n "$HOME" ] && [ -f "$f" ]; then
    {
        if lock_shared && verify; then
            # Exec'd by the name /proc/self/fd/3, the agent would show in ps as `3`; a link
            # named after the tool, to that name, shows it as itself. One readlink where the
            # link is already right, as on every run after the first: each process this
            # script starts is a wait for the scheduler on a busy host.
            x=$d/fd/$tool
            if [ "$p" != /proc/self/fd/3 ]; then
                x=$p
            elif [ "$(readlink "$x" 2>/dev/null)" != "$p" ]; then
                # -T: never a link inside a folder in the way; where ln lacks it, the fd name serves.
                mkdir -p "$d/fd" 2>/dev/null && ln -sfT "$p" "$x" 2>/dev/null || x=$p
            fi
            printf '\036prtools-agent started\n' >&2
            exec "$x" --server 9<&-
        fi
    } 9<"$d" 3<"$f"
fi
# A copy that is there but that `test -x` refuses even once it has its x bit (upload.sh gives
# it 755) lies on a file system that runs nothing: a noexec home. Said as a third field, so
# that the client uses another way in instead of uploading again.
x=
if [ -f "$f" ] && ! [ -x "$f" ] && chmod u+x "$f" 2>/dev/null && ! [ -x "$f" ]; then x=noexec; fi
printf '\036prtools-agent missing\t%s\t%s\t%s\n' "$(uname -sm)" "$HOME" "$x" >&2
