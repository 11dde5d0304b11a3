"""The projects app serves no pages: the dashboard and every project page live in `web`
(web/views_site.py, web/views_project.py) over this app's services and selectors."""
