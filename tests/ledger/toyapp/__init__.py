"""A schema of the ledger tests' own (installed by ``ami.settings.test`` only): the replay is
tested on it with no Antenna model."""
