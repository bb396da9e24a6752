"""The yardstick for benchmarks/bench_pages.py: a bare Streamlit page with one 2,048-point Scatter3d."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="bare", layout="wide")
st.title("Bare page")
pts = np.random.default_rng(0).normal(size=(2048, 3))
fig = go.Figure(go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], mode="markers", marker={"size": 2}))
st.plotly_chart(fig, key="bare_chart")
