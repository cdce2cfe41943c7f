(function(){
var f=document.getElementById('failonly'),g=document.getElementById('group');
function apply(){var only=f.checked,grp=g.value;
var rows=document.querySelectorAll('#cases tbody tr');
rows.forEach(function(r){if(!r.dataset.case)return;
var ok=(!grp||r.dataset.group===grp)&&(!only||r.dataset.bad==='1');r.hidden=!ok;});
rows.forEach(function(r){if(r.dataset.case)return;
var sel=r.classList.contains('group')?'tr[data-case][data-group="'+r.dataset.group+'"]':'tr[data-case][data-sub="'+r.dataset.sub+'"]';
var any=false;document.querySelectorAll(sel).forEach(function(c){if(!c.hidden)any=true;});r.hidden=!any;});}
f.addEventListener('change',apply);g.addEventListener('change',apply);})();
