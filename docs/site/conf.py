# Sphinx configuration of the vdi.fleet documentation site (built by `make docs`).
# pylint: disable=invalid-name

project = 'vdi.fleet'
copyright = 'vdi.fleet contributors'  # pylint: disable=redefined-builtin
title = 'vdi.fleet - VDI patch windows for Horizon, Huawei Cloud Workspace and Alibaba Cloud EDS'
html_short_title = 'vdi.fleet'

extensions = ['sphinx.ext.autodoc', 'sphinx.ext.intersphinx', 'sphinx_antsibull_ext']

pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

# The site is built offline: references into docs.ansible.com are left as plain text.
intersphinx_mapping = {}
default_role = 'any'
nitpicky = False
