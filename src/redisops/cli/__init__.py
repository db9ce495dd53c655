"""Command line interface (Typer + Rich). Contains no logic of its own."""
