"""The shell's listener for pushed live updates: each time the server bumps the tab's
`AuthState.live_nudge`, the page's `poll_live` is sent with it. Nothing runs on a timer."""

from __future__ import annotations

import reflex as rx
from reflex.event import EventChain, EventSpec
from reflex.vars.base import Var, VarData


class LiveNudge(rx.Fragment):
    """Renders nothing. (A `key` on an element with `on_mount` does not remount the memoized
    wrapper Reflex puts its effect in: the effect here depends on the counter itself.)"""

    @classmethod
    def create(cls, *, nudge: Var[int], poll: EventSpec) -> LiveNudge:  # type: ignore[override]
        component = super().create()
        call = Var.create(EventChain(events=[poll], args_spec=lambda: []))
        component._live_hook = Var(
            _js_expr=f"useEffect(() => {{ if ({nudge} > 0) {{ ({call})(); }} }}, [{nudge}])",
            _var_data=VarData.merge(
                nudge._get_all_var_data(),
                call._get_all_var_data(),
                VarData(imports={"react": ["useEffect"]}),
            ),
        )
        return component

    def add_hooks(self) -> list[str | Var]:
        return [self._live_hook]


live_nudge = LiveNudge.create
