def main() -> None:  # placeholder until the CLI lands
    raise SystemExit("vanikeys: not built yet")
