"""Run workspaces and governed apply: git worktrees, edit placement, guards, atomic writes."""
