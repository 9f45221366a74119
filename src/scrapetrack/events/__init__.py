"""Live updates: buses that say "job X changed, version N", and the hub that fans out."""
