# Receives the agent on stdin into a temp file, checks its hash, makes it executable and
# renames it into place; then removes the other builds of the tool (prune). $5 is a temp name
# no other upload uses, $6 is 1 when the path is handed out (a lease, as probe.sh takes).
tmp=$5 lease=$6
t=$d/$tmp.$$

# Whether a run handed out the path of the copy in folder $1 less than an hour ago. Without
# find -mmin this cannot be told, and the copy counts as leased.
leased() {
    [ -e "$1/$tool.lease" ] && [ -z "$(find "$1/$tool.lease" -mmin +60 2>/dev/null)" ]
}

# Removes the other builds of this tool for this machine: each folder named
# <version>-<machine>-<16 hex digits> (or <version>-<16 hex digits>, as older prtools named
# them) that holds one, unless a run holds its lock (an upload or a check in progress) or its
# lease. Another machine's builds stay: its nodes may share this home. An agent already
# running from a removed folder runs on: its file lives until it exits. Anything else in the
# cache (ctl, other tools) stays.
# shellcheck disable=SC2015,SC2094,SC3013
prune() {
    slug=$(printf '%s' "$want_uname" | tr ' ' '-' | tr -c 'A-Za-z0-9._-' '_')
    for o in "$cache"/*; do
        [ -d "$o" ] && ! [ -L "$o" ] || continue
        n=${o##*/}
        x=${n##*-}
        [ "$n" != "$name" ] && [ "$x" != "$n" ] || continue
        case $x in ????????????????) ;; *) continue ;; esac
        case $x in *[!0-9a-f]*) continue ;; esac
        case ${n%-*} in *-"$slug") ;; *-*) continue ;; esac
        [ -f "$o/$tool" ] || [ -f "$o/$tool.seal" ] || [ -f "$o/$tool.lease" ] ||
            [ -L "$o/fd/$tool" ] || continue
        {
            flock -n -x 8 && [ "$o" -ef /proc/self/fd/8 ] && ! leased "$o" &&
                rm -f -- "$o/$tool" "$o/$tool.seal" "$o/$tool.lease" "$o/$tool.seal."* \
                    "$o/.$tool.tmp."* "$o/fd/$tool" &&
                { ! [ -d "$o/fd" ] || rmdir -- "$o/fd"; } && rmdir -- "$o"
        } 8<"$o" 2>/dev/null
    done
}

# shellcheck disable=SC2015
install() {
    cat >"$t" || {
        rm -f "$t"
        return 1
    }
    h=$(sha256 <"$t")
    if [ "$h" != "$want_sha" ]; then
        rm -f "$t"
        echo "sha256 of the uploaded copy is ${h:-unknown}, expected $want_sha" >&2
        return 1
    fi
    chmod 755 "$t" && mv -f "$t" "$f" || {
        rm -f "$t"
        return 1
    }
    if [ "$lease" = 1 ]; then touch "$f.lease" 2>/dev/null; fi
    if [ -n "$locking" ]; then prune; fi
    # In place and mode 755, yet not executable: the home is mounted noexec.
    [ -x "$f" ] || echo noexec
    return 0
}

i=0
while :; do
    mkdir -p "$d" || exit 1
    {
        if lock_shared; then
            install
            exit
        fi
    } 9<"$d"
    i=$((i + 1))
    if [ "$i" -ge 3 ]; then
        echo "cannot lock $d: another run keeps removing it" >&2
        exit 1
    fi
done
