"""What the fleet is: users file, discovery, targets and node sets, results."""
