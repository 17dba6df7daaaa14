"""The chat bot: front ends over one service, with the ledger, jobs, vault and storage beneath it."""
