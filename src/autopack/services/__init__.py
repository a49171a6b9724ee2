"""Use cases: the only writers. Functions take a Session and only flush(); the caller's unit
of work commits."""
