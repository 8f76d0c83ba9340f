"""Files in other tools' formats (process-compose, Jarvis-CD, A2A jobs, ATOLL, Mitosis):
recognised from their content (:mod:`detect`) and, where an importer exists, turned into the
equivalent Shipyard spec with a note on every mapping (:mod:`importing`). docs/importing.md."""
