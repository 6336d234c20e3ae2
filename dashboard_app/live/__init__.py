"""Live updates: which members' visible data changed, told after commit to every backend process
that shares the database (`bus`), and which committed rows count (`changes`)."""
