"""Elections: manifests, the lifecycle, voter rolls, trustees and the key ceremony."""
