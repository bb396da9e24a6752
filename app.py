"""swviz app entry point: page config once, then explicit navigation over pages/.

Every page runs between ``ui.begin_page`` (the notice area at its top) and ``ui.end_page``
(the sidebar's "Share this view"); a page that ends early raises ``ui.PageEnd``.
"""

import streamlit as st

from pages import ui

st.set_page_config(page_title="swviz", page_icon=":material/blur_on:", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", url_path="home", default=True),
    st.Page("pages/shapes.py", title="Shapes", icon=":material/category:", url_path="shapes"),
    st.Page("pages/variance.py", title="Variance", icon=":material/show_chart:", url_path="variance"),
    st.Page("pages/flow.py", title="Gradient flow", icon=":material/animation:", url_path="flow"),
    st.Page("pages/correspondence.py", title="Correspondence", icon=":material/share:", url_path="correspondence"),
    st.Page("pages/deformation.py", title="Deformation", icon=":material/transform:", url_path="deformation"),
    st.Page("pages/amortized.py", title="Amortized slicing", icon=":material/explore:", url_path="amortized"),
    st.Page("pages/studies.py", title="Studies", icon=":material/grid_on:", url_path="studies"),
]

page = st.navigation(PAGES)
ui.begin_page(page.url_path or "home")
try:
    page.run()
except ui.PageEnd:
    pass
finally:
    ui.close_bracket()
ui.end_page()
