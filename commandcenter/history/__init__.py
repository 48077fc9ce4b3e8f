"""Looking back: the journal replayed to any moment (:mod:`.timeline`), for the wall's replay
mode, the situation report and the shift handover. Everything here opens the journal read-only
and never changes it, so a journal a live wall is writing can be replayed at the same time."""
