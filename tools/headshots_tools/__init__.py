"""What developers and CI run but no service image ships: the local stack, the demo, the tiny model, image checks."""
