"""Where nodes run: the local process runtime and rendered artifacts, from one template source."""
