"""What readers see: disclosure control (:mod:`.disclosure`), figures (:mod:`.plots`, fonts and labels in
:mod:`.style`), notebook set-up (:mod:`.notebook`), the HTML report (:mod:`.report`, :mod:`.render`,
:mod:`.provenance`, :mod:`.profile`). Knows no shipped data: it is given the study and the data folder.
"""
