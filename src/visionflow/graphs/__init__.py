"""Pictures of graphs: the layered layout shared by the lineage and workflow pages
(``layout``), a compiled workflow's graph as data (``workflow_graph``) and as an SVG drawing
or a self-contained HTML page (``workflow_page``)."""
