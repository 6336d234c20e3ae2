"""A plain HTML form that the browser submits to a server route (no Reflex submit handler)."""

from __future__ import annotations

import reflex as rx
from reflex_components_core.el.elements.base import BaseHTML


class NativeForm(BaseHTML):
    """`<form method="post" action=...>`: used where the server must set an HttpOnly cookie."""

    tag = "form"

    action: rx.Var[str]
    method: rx.Var[str]
    # "multipart/form-data" for a form that sends a file.
    enc_type: rx.Var[str]


native_form = NativeForm.create
