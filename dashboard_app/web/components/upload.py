"""A file drop zone whose hidden file input has a name that assistive technology reads out."""

from __future__ import annotations

import reflex as rx
from reflex_components_core.el.elements.forms import Input


def _file_input(component: rx.Component) -> Input | None:
    if isinstance(component, Input):
        return component
    for child in component.children:
        found = _file_input(child)
        if found is not None:
            return found
    return None


def labelled_upload(*children: rx.Component, label: str, **props) -> rx.Component:
    """`rx.upload`, with `label` as the accessible name of the file input it renders (Reflex
    gives that input no way to be labelled)."""
    upload = rx.upload(*children, **props)
    file_input = _file_input(upload)
    if file_input is None:
        raise RuntimeError("rx.upload no longer renders a file input: update labelled_upload")
    file_input.custom_attrs["aria-label"] = label
    return upload
