"""The grinder: key formats, patterns and odds, the backends that grind, and the RunPod and self-hosted worker."""
