"""Generation, in the member's words: drafts, submit, review (cancel, retry, regenerate, save to
library), the library, downloads; and `progress`, what the workers record as they render.

Every function takes the session first and keyword arguments only; the caller owns the
transaction. Work is enqueued by the caller after commit (dashboard_app/engine), under a
workflow id derived from the generation, so enqueuing again is harmless."""
