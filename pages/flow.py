import streamlit as st

st.title("flow")
st.info("This page is being built.")
