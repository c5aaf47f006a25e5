from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def menu(request):
    """The ERP menu, holding both of the seed's routes to the SMTP screen."""
    return render(request, "emisario/menu.html")
