/*!
Host selection for prtools: every syntax pdsh and clush users type to name hosts, and the
way back from a set of hosts to the shortest expression.

# Expressions

A host expression is a comma list of names; brackets in a name hold numbers.

| written | gives |
|---|---|
| `a,b` | `a`, `b` |
| `node[01-03,10]` | `node01`, `node02`, `node03`, `node10` (padding kept from the start) |
| `n[1-9/4]` | `n1`, `n5`, `n9` (a step) |
| `rack[1-2]-n[1-2]` | `rack1-n1`, `rack1-n2`, `rack2-n1`, `rack2-n2` (every combination, last bracket fastest) |

A comma inside brackets belongs to the bracket. Duplicates are dropped, the first kept.
[`expand`] reads exactly this:

```
use prtools_hostlist::expand;

assert_eq!(expand("a,node[01-02],rack[1-2]-n1")?, ["a", "node01", "node02", "rack1-n1", "rack2-n1"]);
# Ok::<(), prtools_hostlist::Error>(())
```

An expression that would give more than [`MAX_HOSTS`] names is refused by counting, before
any name is built, so a typo such as `node[1-1000000000]` fails at once instead of exhausting
memory. Mistakes point at the column and name the fix:

```
use prtools_hostlist::expand;

let err = expand("node[5-").unwrap_err();
assert_eq!(err.to_string(), "bad host list 'node[5-': column 8: unclosed range, missing ']'");
assert_eq!(err.column(), Some(8));
```

# Selections

A command line names hosts with `-w EXPR`, `-x EXPR`, `-h FILE` and `-g GROUP`; a
[`Selection`] holds those values and [`Selection::resolve`] turns them into [`HostSpec`]s.
In `-w` and `-x` values a name may also be:

- `^FILE`: the hosts in a hostfile, as pdsh reads them;
- `@GROUP`: the hosts of a group (`@rack[1-2]` names two groups);
- `user@` before a name or before the whole value (`root@node[1-3]`, pdsh's form), and `:port`
  after a name (`node[1-3]:2222`).

A hostfile (`-h`, `^FILE`, `WCOLL`) has one `[user@]host[:port]`, expression or `@group` a
line, `#` comments and blank lines ignored; it cannot name other files, so files never include
each other in circles. `WCOLL` is read only when no `-w`, `-h` or `-g` is given.
Groups files (`~/.config/prtools/groups`, then `/etc/prtools/groups`; see [`Context`]) hold
`name: hosts` lines, where the hosts may use ranges and other `@groups`, separated by commas
or spaces; the first file that defines a group wins, and a group that includes itself is an
error. `-x` removes hosts by name, whatever their user or port.

```
use prtools_hostlist::{Context, HostSpec, Selection};

let selection = Selection {
    include: vec!["root@node[1-4]".into(), "node5:2222".into()],
    exclude: vec!["node[2-3]".into()],
    ..Selection::default()
};
let hosts = selection.resolve(&Context::default())?;
let shown: Vec<String> = hosts.iter().map(HostSpec::to_string).collect();
assert_eq!(shown, ["root@node1", "root@node4", "node5:2222"]);
# Ok::<(), prtools_hostlist::Error>(())
```

# Folding

[`fold`] goes the other way, as `dshbak -c` and `clush -b` print host sets: it folds on the last
number of each name, keeps padding, and sorts naturally so that the output is the same
whatever order the hosts finished in. `expand(&fold(names))` gives back the same set.

```
use prtools_hostlist::fold;

assert_eq!(fold(["node3", "node1", "node2", "node7", "login"]), "login,node[1-3,7]");
```
*/

#![deny(missing_docs)]

mod context;
mod error;
mod expand;
mod fold;
mod group;
mod host;
mod hostfile;
mod list;
mod natural;
mod range;
mod resolver;
mod scan;
mod selection;

pub use crate::context::Context;
pub use crate::error::{Error, FileKind, SyntaxKind};
pub use crate::expand::expand;
pub use crate::fold::fold;
pub use crate::host::HostSpec;
pub use crate::selection::Selection;

/// The most hosts one expression, or one whole selection, may give.
///
/// Far more than any cluster has, and small enough that a million host names fit in memory
/// comfortably; past it an expression is almost surely a typo (`node[1-10000000]`).
pub const MAX_HOSTS: usize = 1_000_000;
