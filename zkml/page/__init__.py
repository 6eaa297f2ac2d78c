"""Static pages that verify a model's proofs in the browser with the model's own verifier contract.

zkml.page.write_page("model.car", "site/")   # index.html + verify.js + model.json, relative paths only
"""

from ._script import node_modules, page_script
from ._site import load_source, page_contract, page_data, render_index, write_page

__all__ = ["load_source", "node_modules", "page_contract", "page_data", "page_script", "render_index", "write_page"]
