"""Pure patrol-planning library: problems, travel times, OR-Tools routes, plans."""
