"""How barnum reaches a host: SSH, ssh_config, the bailey command, capture."""
