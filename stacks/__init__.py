"""Package data: the example stacks (`Pulumi.<name>.yaml`), so `--stack dev` works from an installed wheel."""
