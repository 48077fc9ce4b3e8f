"""External data in: adapters that turn what Indonesian publishers and other dispatch systems
send (BMKG earthquakes and CAP warnings, NASA FIRMS hotspots, PetaBencana.id reports, NENA EIDO
incidents) into items the wall can show, matched to OKI's districts and villages.

One module per format, each Qt-free and tested on real-format samples; a parser either returns
every item of a document or raises :class:`~commandcenter.ingest.items.IngestError` naming where
and why, so a bad document is never half applied.
"""
