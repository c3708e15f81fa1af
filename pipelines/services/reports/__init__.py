"""Report writers: pure functions from computed results to files (CSV, PDF) for people and tax authorities."""
