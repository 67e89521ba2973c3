"""The province's policy in force in this process, held so that it can be replaced whole.

Every request reads `holder.current` once and uses that one object throughout, so a
replacement (O2: a hot reload of the provincial override) never mixes two policies in
one decision: the swap is a single attribute assignment. Long-lived services that derive
state from the policy (the lookup's pre-serialised answers) compare `generation` with
the one they built from and rebuild when it moved.
"""

from __future__ import annotations

from entitlements.policy import Policy


class PolicyHolder:
    """The policy in force; `replace` swaps it atomically for this process."""

    __slots__ = ("_current", "generation")

    def __init__(self, policy: Policy) -> None:
        self._current = policy
        self.generation = 0

    @property
    def current(self) -> Policy:
        """The policy to decide with (read it once per request)."""
        return self._current

    def replace(self, policy: Policy) -> None:
        """Put a new policy in force; readers see either the old one or the new one."""
        self._current = policy
        self.generation += 1
