"""Plan data: resources, field changes, changes and the plan itself.

The diff is computed once into these objects; renderers only display them
and the executor only carries them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Set, Tuple

from vaultform.errors import Location
from vaultform.values import contains_secret

if TYPE_CHECKING:
    from vaultform.kinds.base import Kind


class _Absent:
    """A field that does not exist on one side of a change."""

    def __repr__(self) -> str:
        return "(absent)"


ABSENT = _Absent()
ALL_FIELDS = "*"
# Resource.meta key a kind sets during a change to run a second step after it,
# (description, callable): timed and reported on its own line (executor.py).
FOLLOW_UP = "follow_up"

CREATE, UPDATE, DELETE, REPLACE = "create", "update", "delete", "replace"
SYMBOLS = {CREATE: "+", UPDATE: "~", DELETE: "-", REPLACE: "-/+"}

# Which side moved since the last apply, when an existing object differs
# (Change.moved, the JSON plan's "moved"), and how the plan words it.
SPEC, VAULT, BOTH = "spec", "vault", "both"
MOVED_REASONS = {SPEC: "changed in the spec", VAULT: "changed in Vault since the last apply",
                 BOTH: "changed in the spec and in Vault since the last apply",
                 None: "changed in the spec or drifted in Vault"}   # the record cannot tell


def moved_side(spec_moved: bool, vault_moved: bool) -> Optional[str]:
    if spec_moved and vault_moved:
        return BOTH
    return VAULT if vault_moved else SPEC if spec_moved else None


@dataclass
class Resource:
    kind: "Kind"
    address: str
    id: str                                   # the kind's identity in Vault (a path, a name)
    desired: Optional[Dict[str, Any]] = None  # normalised; None when only known from the record
    location: Optional[Location] = None
    depends_on: List[str] = field(default_factory=list)
    sensitive: Set[str] = field(default_factory=set)   # field names, or {"*"}
    meta: Dict[str, Any] = field(default_factory=dict)
    prevent_destroy: bool = False

    def is_sensitive(self, name: str) -> bool:
        """Sensitivity follows the value: a field holding a value-source
        value (a values.Secret) is sensitive whatever the kind declares."""
        if ALL_FIELDS in self.sensitive or name in self.sensitive:
            return True
        return contains_secret((self.desired or {}).get(name))


@dataclass
class FieldChange:
    name: str
    before: Any
    after: Any
    sensitive: bool = False
    forces_replace: bool = False


@dataclass
class Change:
    action: str
    resource: Resource
    fields: List[FieldChange] = field(default_factory=list)
    live: Optional[Dict[str, Any]] = None
    reason: str = ""
    notes: List[str] = field(default_factory=list)
    # An update's side that moved since the last apply (SPEC, VAULT, BOTH),
    # None where the ownership record cannot tell or for other actions.
    moved: Optional[str] = None

    @property
    def address(self) -> str:
        return self.resource.address


@dataclass
class Plan:
    changes: List[Change] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    # Set when the cluster must change before the rest can be read (a sealed or
    # stopped node): apply plans the configuration again once it is up.
    deferred: Optional[str] = None
    destroy: bool = False
    # Desired objects that already match Vault, with what was read: a saved
    # plan fingerprints them too, so apply can say why one of them moved.
    unchanged: List[Tuple[Resource, Optional[Dict[str, Any]]]] = field(default_factory=list)
    # Ownership record work beside the changes: objects found exactly as the
    # spec says whose entry is missing or outdated (recorded from what was
    # read), and entries whose object the plan found gone or changed by hand
    # (dropped, never acted on). A format-1 record is moved into shards.
    adopt: List[Resource] = field(default_factory=list)
    forget: List[str] = field(default_factory=list)
    migrate_record: bool = False
    # The PlanOptions it was made with (targets, allow_destroy, force), which
    # every rendering shows; None for a destroy plan, which takes none.
    options: Optional[Any] = None
    # Objects in Vault that vaultform does not manage, kind name -> addresses:
    # counted under "No changes", listed by `plan --show-unmanaged`, and in
    # the JSON plan's "unmanaged". None when the plan did not look for them
    # (it made changes and --show-unmanaged was not given, or was deferred);
    # {} when it looked and found none.
    unmanaged: Optional[Dict[str, List[str]]] = None
    prune_keys: Dict[str, str] = field(default_factory=dict)   # kind name -> its `prune:` key

    def count(self, *actions: str) -> int:
        return sum(1 for c in self.changes if c.action in actions)

    @property
    def summary(self) -> Dict[str, int]:
        replace = self.count(REPLACE)
        return {"add": self.count(CREATE) + replace, "change": self.count(UPDATE),
                "destroy": self.count(DELETE) + replace}

    @property
    def record_work(self) -> bool:
        return bool(self.adopt or self.forget or self.migrate_record)

    @property
    def empty(self) -> bool:
        return not self.changes and not self.deferred
