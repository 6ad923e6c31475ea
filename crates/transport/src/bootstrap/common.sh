# What every bootstrap script starts with. They run as
#   sh -c SCRIPT prtools NAME TOOL UNAME SHA256 [MORE...]
# whatever the user's login shell is: NAME is the cache folder (<version>-<machine>-<hash
# prefix>, the machine being UNAME with - for its space), TOOL
# the agent's file name, UNAME the `uname -sm` it was built for, SHA256 its 64 hex digits.
name=$1 tool=$2 want_uname=$3 want_sha=$4
cache=$HOME/.cache/prtools
d=$cache/$name
f=$d/$tool

# Locks need flock(1), and checking that a locked folder is still the named one needs /proc
# and test's -ef (every Linux sh has it). Without them nothing is locked, and nothing is
# pruned either.
locking=
# shellcheck disable=SC3013
if command -v flock >/dev/null 2>&1 && [ -d /proc/self/fd ] && [ / -ef / ] 2>/dev/null; then
    locking=1
fi

# The SHA-256 of stdin, hex digits only: GNU coreutils' tool, else the Perl one of BSD and
# macOS.
sha256() {
    h=$({ sha256sum || shasum -a 256; } 2>/dev/null)
    printf '%s\n' "${h%% *}"
}

# The stamp of file $1 (links followed): device, inode, size, mtime and ctime, the times to
# the nanosecond. Empty without GNU stat, or when it prints no sub-second times.
stamp() {
    s=$(stat -L -c %d:%i:%s:%.9Y:%.9Z -- "$1" 2>/dev/null) || s=
    case $s in *.?????????:*.?????????) printf '%s\n' "$s" ;; esac
}

# Whether time $1 is strictly before time $2, both SECONDS.NANOSECONDS as stamp prints them.
before() {
    a=${1%.*}${1#*.} b=${2%.*}${2#*.}
    case $a$b in '' | *[!0-9]*) return 1 ;; esac
    [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]
}

# Whether the copy open on fd 3 is the agent: its seal holds, or its hash matches. Leaves in
# $p the name to exec it by: the open file itself where /proc shows it, so that what runs is
# what was checked, whatever happens to the name meanwhile.
verify() {
    p=/proc/self/fd/3
    [ -e "$p" ] || p=$f
    [ -f "$p" ] && [ -x "$p" ] || return 1
    s=$(stamp "$p")
    if [ -n "$s" ] && read -r k 2>/dev/null <"$f.seal" && [ "$k" = "$want_uname $s" ]; then
        return 0
    fi
    # The seal's temp file is made before the hash starts, and the seal is written only if
    # the copy's ctime is older than the temp file's: any change from then on, even within
    # one tick of the clock, gives the copy a ctime at least that new, which no seal records.
    t=$f.seal.$$
    t0=
    # `true`, not `:`: a failed redirection makes sh leave at once on a special built-in.
    if { true >"$t"; } 2>/dev/null; then
        t0=$(stamp "$t")
        t0=${t0##*:}
    fi
    if [ "$(sha256 <&3)" != "$want_sha" ]; then
        rm -f "$t"
        return 1
    fi
    s=$(stamp "$p")
    if [ -n "$s" ] && before "${s##*:}" "$t0"; then
        printf '%s %s\n' "$want_uname" "$s" >"$t" && mv -f "$t" "$f.seal"
    fi
    rm -f "$t"
    return 0
}

# Takes a shared lock on the folder open on fd 9, so that no other build's upload prunes it
# meanwhile, and checks it is still the folder named $d (a prune may have removed it between
# the open and the lock). A file system that refuses locks gets none, and no pruning.
lock_shared() {
    [ -n "$locking" ] || return 0
    if ! flock -s 9 2>/dev/null; then
        locking=
        return 0
    fi
    # shellcheck disable=SC3013
    [ "$d" -ef /proc/self/fd/9 ]
}
