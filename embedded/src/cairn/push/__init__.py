"""`cairn push-results`: a registry pushes a results file to the ledger in batches."""
