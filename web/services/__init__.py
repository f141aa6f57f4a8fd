"""What the pages, the API and the CLI do, apart from how they are asked: the site's incident
data and filters, scoring and backtest data, grid workers' cells and check-ins, the day's
patrol plans, imports, the demo and accounts.

Services import storage, geo and planner, never Flask blueprints (web.views).
"""
